import sys

from xstilts.cli import main

sys.exit(main())
