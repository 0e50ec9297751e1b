import sys

from svccakit.cli import main

sys.exit(main())
