"""Backtesting: `vigil backtest` (alerts evaluated over history from raw series) and scoring
detections against labelled, real incidents (NAB)."""
