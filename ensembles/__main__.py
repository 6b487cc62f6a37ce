import sys

from ensembles.builder import main

sys.exit(main())
