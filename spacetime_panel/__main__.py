"""python -m spacetime_panel"""

import sys

from spacetime_panel.cli import main

sys.exit(main())
