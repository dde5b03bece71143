"""The Slack front door: slack-bolt app, Block Kit answers, Slack markup."""
