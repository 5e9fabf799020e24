"""Doodle Lab's training pipeline: Quick, Draw! data in, the shipped classifier out."""
