"""dipwatch: tells transient glitches from sustained drops in social-media counts."""

__version__ = "0.1.0"
