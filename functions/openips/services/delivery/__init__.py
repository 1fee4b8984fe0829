"""Serving renditions of uploaded images with Scene7 Image Serving URLs (docs/delivery.md)."""
