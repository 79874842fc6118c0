"""``python -m tinyrec.exercises SOLUTIONS NOTEBOOKS`` writes the student notebooks;
``python -m tinyrec.exercises course-edition OUT`` writes the course edition's toc and config."""

from tinyrec.exercises.generate import main

main()
