"""CrewAI: crews, agents' tasks and tools as a tree of spans over the model calls' SDK spans."""

from .crewai import crewai_patcher

__all__ = ["crewai_patcher"]
