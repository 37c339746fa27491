# A node is imported by its name in the inventory (enrolled by `bmplan nodes enroll` or by Terraform).
terraform import baremetal_node.r1u01 r1u01
