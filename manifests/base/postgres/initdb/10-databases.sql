-- Databases next to POSTGRES_DB=mlflow: MLflow's auth store and the Feast registry/online store.
CREATE DATABASE mlflow_auth;
CREATE DATABASE feast;
