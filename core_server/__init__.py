"""Freqtrade Multi-Bot System: the control plane for fleets of freqtrade bots."""

__version__ = "1.0.0"
