"""Feature definitions: daily account activity per customer, served for training and online scoring."""

from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource
from feast.types import Float64, Int64
from feast.value_type import ValueType

customer = Entity(name="customer", join_keys=["customer_id"], value_type=ValueType.INT64)

account_activity = FeatureView(
    name="account_activity",
    entities=[customer],
    ttl=timedelta(days=45),
    schema=[
        Field(name="tenure_months", dtype=Int64),
        Field(name="monthly_charges", dtype=Float64),
        Field(name="support_calls_30d", dtype=Int64),
        Field(name="logins_30d", dtype=Int64),
    ],
    source=FileSource(path="data/account_activity.parquet", timestamp_field="event_timestamp"),
)

churn_model_features = FeatureService(name="churn_model_features", features=[account_activity])
