import sys

from jhe.cli import main

sys.exit(main())
