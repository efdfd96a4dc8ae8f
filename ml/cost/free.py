"""Resource types that bill nothing by themselves, each with the reason a reviewer reads in `ml plan`.

Why a table with reasons rather than a skip list: a type missing from both this table and the
rules (`ml/cost/rules.py`, `ml/cost/network_rules.py`) becomes an explicit "no price" line, so
adding a type here is a claim that it is free, and the reason is where that claim is checked.
"""

from __future__ import annotations

FREE: dict[str, str] = {
    "azure-native:resources:ResourceGroup": "a container for resources",
    "azure-native:storage:BlobServiceProperties": "settings of the storage account",
    "azure-native:storage:BlobContainer": "billed through the storage account",
    "azure-native:storage:ManagementPolicy": "lifecycle rules are free (they lower storage cost)",
    "azure-native:applicationinsights:Component": "workspace-based: its ingestion bills in Log Analytics",
    "azure-native:machinelearningservices:Workspace": "the workspace is free; its resources bill",
    "azure-native:monitor:AutoscaleSetting": "free; its bounds price the deployment",
    "azure-native:consumption:Budget": "budgets are free",
    "azure-native:authorization:RoleAssignment": "free",
    "azure-native:network:VirtualNetwork": "VNets are free (peering and gateways bill; none here)",
    "azure-native:network:Subnet": "subnets are free",
    "azure-native:network:PrivateDnsZoneGroup": "a setting of the private endpoint (writes its DNS record)",
    "azure-native:privatedns:VirtualNetworkLink": "links without autoregistration are not billed; the zone bills",
    "azure-native:monitor:ActionGroup": "email notifications: first 1,000 a month free, drift mails are far fewer",
    "aws:sns/topic:Topic": "no fee per topic; first 1M publishes a month free, alarms publish a few",
    "aws:sns/topicSubscription:TopicSubscription": "email deliveries: first 1,000 a month free",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "bucket setting",
    "aws:s3/bucketVersioning:BucketVersioning": "bucket setting (old versions count in storage)",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "bucket setting",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": "bucket setting",
    "aws:s3/bucketPolicy:BucketPolicy": "bucket setting",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": "lifecycle rules lower storage cost",
    "aws:kms/alias:Alias": "aliases are free",
    "aws:iam/role:Role": "IAM is free",
    "aws:iam/rolePolicy:RolePolicy": "IAM is free",
    "aws:sagemaker/model:Model": "a model definition is free; its endpoint bills",
    "aws:sagemaker/endpoint:Endpoint": "billed through its endpoint configuration's variants",
    "aws:sagemaker/domain:Domain": "the domain is free; Studio apps and EFS bill per use (not modelled)",
    "aws:appautoscaling/target:Target": "free; its bounds price the variant",
    "aws:appautoscaling/policy:Policy": "free",
    "aws:budgets/budget:Budget": "the first two budgets of an account are free",
    "aws:costexplorer/costAllocationTag:CostAllocationTag": "free",
    "pulumi:providers:kubernetes": "a Pulumi provider, not a cloud resource",
    "kubernetes:core/v1:Namespace": "a Kubernetes object",
    "kubernetes:core/v1:ServiceAccount": "a Kubernetes object",
    "kubernetes:core/v1:Service": "ClusterIP: no load balancer",
    "kubernetes:core/v1:ResourceQuota": "a Kubernetes object",
    "kubernetes:core/v1:LimitRange": "a Kubernetes object",
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": "a Kubernetes object",
    "kubernetes:policy/v1:PodDisruptionBudget": "a Kubernetes object",
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": "free; its bounds price the deployment",
    "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute": "a route on the existing gateway",
}

__all__ = ["FREE"]
