"""Full deployments: the Deployer interface the update path queues deployments through."""
