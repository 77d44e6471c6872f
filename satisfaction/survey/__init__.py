"""The survey engine: the design object, weighting, replicate weights, estimators and the one
variance and interval code every statistic in the package goes through (as R's ``survey``)."""
