"""GPU infrastructure support: hours granted per engagement, usage entries, and the hours quota."""
