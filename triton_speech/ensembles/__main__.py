import sys

from triton_speech.ensembles.builder import main

sys.exit(main())
