"""Data files shipped with gradviz: lesson specs and texts, icons, the .desktop file."""
