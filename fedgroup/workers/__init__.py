"""Background workers that move durable rows along: inbound processing, outbound delivery."""
