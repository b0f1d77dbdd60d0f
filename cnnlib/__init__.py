"""cnnlib: the reference library of the CNN course."""
__version__ = "0.1.0"
