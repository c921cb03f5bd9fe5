"""The data-quality framework: validation rules, anomaly detection, imputation and quality metrics."""
