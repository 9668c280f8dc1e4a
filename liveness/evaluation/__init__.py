"""How good a model is: ISO/IEC 30107-3 metrics from scores, a labelled folder scored, the HTML report."""
