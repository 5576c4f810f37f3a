"""The Qt side of gradviz: window, transport, worker, controller, panels, theme.

Nothing here imports TensorFlow at module import time; the worker thread
loads it in the background.
"""
