"""Programme years (연차), programmes (세부사업) and their calls (모집공고)."""
