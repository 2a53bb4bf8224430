import { OperationEntity } from './operation.entity';

export * from './operation.entity';

/** Every entity the data source knows. A new entity is added here and nowhere else. */
export const entities = [OperationEntity];
