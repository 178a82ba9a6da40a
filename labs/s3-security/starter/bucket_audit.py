"""Find the public buckets in this account, as the AWS Config rule
s3-bucket-public-read-prohibited would (the emulator has no Config rules).

Your task ("Use AWS Config to detect public buckets"): make
find_public_buckets() return the names of every bucket that anyone on the
internet can reach. `lab check` creates two probe buckets of its own, one
public and one private, calls your function and expects exactly the public
one among them.

Run it against the emulator after `eval "$(lab env)"`:

    python bucket_audit.py
"""

import json

import boto3

# The AWS-managed groups an ACL grant can name: everyone, and every AWS account.
PUBLIC_GROUPS = {
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
}


def find_public_buckets(s3=None) -> list[str]:
    """Return the names of the buckets that are public, in any order.

    A bucket is public when
    - its bucket policy has an Allow for Principal "*" (or {"AWS": "*"}) that no
      condition pins to fixed values of a restricting key (aws:SourceVpce,
      aws:SourceVpc, aws:SourceIp, aws:SourceAccount, aws:PrincipalAccount, ...),
      unless Block Public Access RestrictPublicBuckets is on for the bucket; or
    - its ACL grants something to one of PUBLIC_GROUPS, unless
      IgnorePublicAcls is on.

    get_bucket_policy_status() answers the first question on AWS, but not on
    every emulator: ministack returns an empty PolicyStatus. Use it when it has
    an IsPublic, and read the policy yourself when it does not.
    """
    s3 = s3 or boto3.client("s3")
    raise NotImplementedError("list the buckets and decide for each whether it is public")


if __name__ == "__main__":
    print(json.dumps(find_public_buckets(), indent=2))
