"""ingest: the guide text → a page-anchored, persona-tagged structure and chunks."""
from ingest.pipeline import load_guide, parse_guide

__all__ = ["load_guide", "parse_guide"]
