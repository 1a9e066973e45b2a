"""Commonroom's domain: aggregates and their events. Pure: stdlib + eventsourcing.domain."""
