"""The FiftyOne App side of alflow: what the plugin's operators do, their forms and messages."""
