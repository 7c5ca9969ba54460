"""``python -m cnn_estimators`` runs the command line."""

import sys

from .cli import main

sys.exit(main())
