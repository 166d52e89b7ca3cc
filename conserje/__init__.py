"""Conserje: a WhatsApp assistant server with a journal that explains every decision."""

__version__ = "0.1.0"

__all__ = ["__version__"]
