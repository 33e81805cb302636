"""Readers that turn the public UniMSE corpora (MOSI, MOSEI, MELD, IEMOCAP) into rows of the unified schema."""
