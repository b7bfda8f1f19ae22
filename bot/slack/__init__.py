"""The Slack edge: the Bolt app, Block Kit rendering, the App Home and the Notifier."""
