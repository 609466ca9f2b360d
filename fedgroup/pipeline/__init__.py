"""The flow of activities through the server, one module per stage, in the order data moves:

    intake     verify a POSTed activity (size, JSON, policy, signature, origins), store it, 202
    inbound    claim stored activities and run the handler for each type
    handlers/  one module per activity type: validate, then call the service layer
    (service.outbound.queue_activity writes the outbound queue: activity + delivery rows)
    delivery   claim due deliveries, sign, send, retry with backoff
    claims     on restart, take back the claims a killed predecessor held

Imports point down: the pipeline calls `service`, which uses `activitypub` and `storage`.
"""
