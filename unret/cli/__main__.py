import sys

from unret.cli import main

sys.exit(main())
