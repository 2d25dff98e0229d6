"""Kept for modules not yet moved into a tier (they import ``batches``); see support.batches."""

from support.batches import wait_until_done

__all__ = ["wait_until_done"]
