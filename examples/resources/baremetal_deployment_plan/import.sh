# A deployment plan is imported by its name (its write-only secret variables are not read back).
terraform import baremetal_deployment_plan.web web
