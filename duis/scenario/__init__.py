"""Scenarios: a world, a profile, a clock and steps, run against the emulated
DCC, with a transcript of every message (``duis run``) and golden files."""

from .format import Scenario, ScenarioError, Step, read_scenario
from .runner import StepFailed, run_scenario
from .transcript import Transcript, write_folder

__all__ = ["Scenario", "ScenarioError", "Step", "StepFailed", "Transcript", "read_scenario",
           "run_scenario", "write_folder"]
