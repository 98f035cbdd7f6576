import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))  # test-only helper scripts (check_pages.py) live beside the tests
