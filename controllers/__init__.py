from . import main
from . import chatter
