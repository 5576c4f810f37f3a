"""gradviz: watch neural networks learn.

The package imports nothing heavy: ``gradviz.engine`` loads TensorFlow only
when a run is built, and ``gradviz.ui`` never imports it at module level.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
