"""Review in the FiftyOne App: the backend's rules and the dataset surface reviewers edit."""
