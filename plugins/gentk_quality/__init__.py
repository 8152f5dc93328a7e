"""Sample-quality metrics (FID, KID, precision/recall) and their feature extractors."""
