"""Backtesting: how well detections match labelled, real incidents (NAB scoring)."""
