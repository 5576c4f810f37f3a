"""The live panels: one file per lesson view, all built on :class:`Panel`.

Every panel has ``title``, ``name``, ``bind(history)``, ``render(epoch)``,
``set_lane_visible(lane, visible)``, ``set_font_scale(scale)`` and
``set_theme(theme)``.
"""

from __future__ import annotations

from gradviz.ui.panels.activations import ActivationsPanel
from gradviz.ui.panels.base import Panel
from gradviz.ui.panels.gradients import GradientsPanel
from gradviz.ui.panels.race import RacePanel

__all__ = ["PANELS", "ActivationsPanel", "GradientsPanel", "Panel", "RacePanel"]

# In the order the lessons introduce them.
PANELS: tuple[type[Panel], ...] = (RacePanel, GradientsPanel, ActivationsPanel)
