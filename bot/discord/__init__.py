"""The Discord edge: the discord.py client, embeds and Views, modals and the Notifier."""
