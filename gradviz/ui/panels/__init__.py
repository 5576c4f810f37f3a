"""The live panels: one file per lesson view, all built on :class:`Panel`.

Every panel has ``title``, ``name``, ``bind(history)``, ``render(epoch)``,
``set_lane_visible(lane, visible)``, ``set_font_scale(scale)`` and
``set_theme(theme)``.
"""

from __future__ import annotations

from gradviz.ui.panels.activations import ActivationsPanel
from gradviz.ui.panels.base import Panel
from gradviz.ui.panels.gradients import GradientsPanel
from gradviz.ui.panels.jacobians import JacobiansPanel
from gradviz.ui.panels.lab import LabPanel
from gradviz.ui.panels.race import RacePanel
from gradviz.ui.panels.surface import SurfacePanel

__all__ = [
    "EXTRA_PANELS", "PANELS", "ActivationsPanel", "GradientsPanel", "JacobiansPanel", "LabPanel", "Panel",
    "RacePanel", "SurfacePanel",
]

# In the order the lessons introduce them.
PANELS: tuple[type[Panel], ...] = (RacePanel, GradientsPanel, ActivationsPanel)
# Panels for particular lessons (the Jacobian view, the Lab), not yet in the
# default set the window and the exported figures use.
EXTRA_PANELS: tuple[type[Panel], ...] = (JacobiansPanel, LabPanel, SurfacePanel)
