import sys

from niah.cli.main import main

sys.exit(main())
